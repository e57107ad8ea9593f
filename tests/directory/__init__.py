"""Phone numbers and the LDAP client against a real Samba AD."""
