"""The node graph of MELD on a WidowX, shared by the launch files and the pip-only runner."""
