#!/bin/sh
# Maintainer scripts must not start or restart services: not while an image is being built, and
# not on a node either, which is never upgraded in place (it gets a new image instead).
# systemd still starts every enabled unit at boot; this only answers invoke-rc.d.
exit 101
