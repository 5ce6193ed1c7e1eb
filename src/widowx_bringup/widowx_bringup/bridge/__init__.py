"""The joint-velocity PID bridge: the policy's 3.3 Hz joint velocities in, 100 Hz servo commands
out, through an arm driver (the simulator's topics or, on a robot PC, Interbotix's xs_sdk)."""
