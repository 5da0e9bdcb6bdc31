// Debian's libmosquitto-dev (2.0.x). Only PackGuardTelemetry/Mosquitto.swift calls into it.
#include <mosquitto.h>
