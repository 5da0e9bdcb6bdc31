#!/bin/sh
# ExecStartPre of packguard.service (installed as /usr/local/lib/packguard/check-gpio-release).
# Raspberry Pi kernels keep a GPIO output at its last level when the process that requested it
# exits (pinctrl_bcm2835 / pinctrl_rp1 parameter persist_gpio_outputs=Y). Then a crashed or killed
# PackGuard would leave a relay energised. Refuse to start until dtparam=strict_gpiod is in effect.
# Kernels without the parameter (mainline) always return released lines to inputs: accepted.
rc=0
for f in /sys/module/pinctrl_*/parameters/persist_gpio_outputs; do
    [ -r "$f" ] || continue
    case "$(cat "$f")" in
        N|n|0) ;;
        *)
            echo "packguard: $f is $(cat "$f"): released GPIO outputs keep their level." >&2
            echo "packguard: add 'dtparam=strict_gpiod' to config.txt (hardware/pi/install.sh does) and reboot;" >&2
            echo "packguard: if it persists on a Pi 5, add pinctrl_rp1.persist_gpio_outputs=n to cmdline.txt." >&2
            rc=1 ;;
    esac
done
exit $rc
