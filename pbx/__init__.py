"""Asterisk AMI: the hardened connection, call tracking from events, AMI actions. Imports nothing of helpline."""
