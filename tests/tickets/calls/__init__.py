"""Calls into tickets: the intake, the directory sync and the caller index."""
