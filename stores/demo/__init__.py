"""The demo data and the warehouse emulator (the optional ``demo`` extra)."""
