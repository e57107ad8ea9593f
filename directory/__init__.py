"""Active Directory / LDAP access, phone-number normalisation and the synced caller index. Imports nothing of helpline."""
