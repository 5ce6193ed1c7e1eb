"""The link watcher: the sparse reward's signal on the real robot, read from the kernel's view of
the network interface at the far end of the Ethernet cable (sysfs carrier and operstate)."""
