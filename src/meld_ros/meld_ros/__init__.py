"""ROS 2 plumbing shared by every node of the stack: QoS profiles, parameters declared from the
config dataclasses, loop-rate diagnostics and the common `main()`. Imports rclpy; the math does not."""
