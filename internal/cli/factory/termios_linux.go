package factory

import "golang.org/x/sys/unix"

// ioctlReadTermios is the ioctl that reads a terminal's attributes.
const ioctlReadTermios = unix.TCGETS
