"""The PBX side: the hardened AMI connection, framing under bad input, the replay server, the call tracker."""
