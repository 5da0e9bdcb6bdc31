# The Python floor: a 10-line gpiod 1.6 script (Debian's python3-libgpiod) mirroring the enable onto the relay.
import gpiod, sys
enable, relay = gpiod.find_line(sys.argv[1]), gpiod.find_line(sys.argv[2])
relay.request(consumer="mirror", type=gpiod.LINE_REQ_DIR_OUT, default_val=0)
enable.request(consumer="mirror", type=gpiod.LINE_REQ_EV_BOTH_EDGES,
               flags=gpiod.LINE_REQ_FLAG_ACTIVE_LOW | gpiod.LINE_REQ_FLAG_BIAS_PULL_UP)
relay.set_value(enable.get_value())
print("mirror: ready", flush=True)
while True:
    if enable.event_wait(sec=1):
        enable.event_read_multiple()
        relay.set_value(enable.get_value())
