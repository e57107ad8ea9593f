"""The process's parts at work: the PBX listener, leadership, calls with the directory."""
