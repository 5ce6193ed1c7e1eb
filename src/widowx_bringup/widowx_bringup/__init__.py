"""WidowX bring-up."""
