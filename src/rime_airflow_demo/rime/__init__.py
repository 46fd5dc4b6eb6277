"""RIME backends behind one ``RimeClient`` protocol."""
