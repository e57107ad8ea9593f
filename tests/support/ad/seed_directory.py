#!/usr/bin/env python3
# Copied from ../shared/ad/seed_directory.py (see ../shared/notes/ldap3-and-samba-ad.md) so that a clean clone can
# seed the test directory; keep the two in step. The directory tests rely on the data below.
"""Seed a test directory with a realistic, deterministic "company AD".

Works against
  * Samba AD DC        (--flavor samba)    real AD schema: user/group/OU, unicodePwd, groupType
  * OpenLDAP slapd     (--flavor openldap) inetOrgPerson + the tiny ad-lite.schema shipped next to
                                           this script (sAMAccountName, ipPhone, otherTelephone, ...)

Usage (env vars are what samba_ad_up.sh / slapd_up.sh print):
  python seed_directory.py --flavor samba --url ldaps://127.0.0.1:636 \
      --bind-dn Administrator@corp.example.test --password 'Adm1n!Passw0rd' \
      --base DC=corp,DC=example,DC=test [--bulk 5000] [--dump-json people.json]

Idempotent: entries that already exist are left alone (entryAlreadyExists is counted, not fatal),
so running it twice is harmless.  --bulk N adds N extra users under OU=LoadTest,OU=Corp (no
password -> fast) for paging/latency tests.

What it creates (numbers are stable across runs, tests can rely on them):
  OU=Corp / OU=Staff / OU=<Department>           50 people
  OU=Corp / OU=Service Accounts                  svc-telephony (the backend's bind account)
  OU=Corp / OU=Groups                            VIP, IT Staff, Helpdesk (nested in IT Staff), All Staff
  * telephoneNumber in 6 different free-text formats, mobile, ipPhone (4-digit ext), otherTelephone
    (multi-valued), manager chains, disabled accounts (userAccountControl bit 2),
  * a shared reception desk phone (2 enabled users, same number, different formatting),
  * a number reassigned from a disabled ex-employee to an active employee,
  * one user whose number only lives in otherTelephone, one with an extension suffix " x210".
"""

import argparse
import json
import ssl
import sys
import time

from ldap3 import AUTO_BIND_NO_TLS, AUTO_BIND_TLS_BEFORE_BIND, MODIFY_ADD, MODIFY_REPLACE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPAttributeOrValueExistsResult, LDAPEntryAlreadyExistsResult

FIRST = [
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Uma",
    "Victor",
    "Walter",
    "Xena",
    "Yusuf",
    "Zoe",
    "Aaron",
    "Bianca",
    "Chen",
    "Dmitri",
    "Elena",
    "Farid",
    "Gabriela",
    "Hiroshi",
    "Ines",
    "Jamal",
    "Katarzyna",
    "Liam",
    "Maria",
    "Nkechi",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sanjay",
    "Tomasz",
    "Ursula",
    "Vikram",
    "Wen",
    "Ximena",
    "Yara",
    "Zainab",
    "Amir",
]
LAST = [
    "Anderson",
    "Brown",
    "Clark",
    "Davis",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Jones",
    "Kowalski",
    "Lopez",
    "Martin",
    "Nguyen",
    "O'Brien",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vasquez",
    "Wagner",
    "Xu",
    "Young",
    "Zhang",
    "Abbott",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Ferreira",
    "Gonzalez",
    "Hansen",
    "Ito",
    "Jensen",
    "Kim",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quispe",
    "Ramirez",
    "Silva",
    "Torres",
    "Ulrich",
    "Varga",
    "Weber",
    "Yilmaz",
]
DEPTS = [  # (OU / department, head title, staff title)
    ("Executive", "Chief Executive Officer", "Executive Assistant"),
    ("IT", "IT Director", "Systems Engineer"),
    ("Sales", "VP Sales", "Account Executive"),
    ("Finance", "CFO", "Accountant"),
    ("HR", "HR Director", "HR Generalist"),
    ("Support", "Support Manager", "Support Specialist"),
    ("Facilities", "Facilities Manager", "Receptionist"),
]
# Free-text formats seen in real ADs. All of them denote +1 555 123 NNNN.
FORMATS = [
    "+1 (555) 123-{n:04d}",
    "+1 555-123-{n:04d}",
    "(555) 123-{n:04d}",
    "+1.555.123.{n:04d}",
    "555 123 {n:04d}",
    "+1555123{n:04d}",
]
USER_PASSWORD = "Welc0me!2024-Seed"
SVC_USER = "svc-telephony"
SVC_PASSWORD = "Svc!Telephony-2024"
UAC_NORMAL, UAC_DISABLED, UAC_NORMAL_NOEXPIRE = 512, 514, 66048


def people():
    """Deterministic list of 50 people (dicts of LDAP attributes + meta)."""
    out = []
    for i in range(50):
        n = i + 1
        dept, head_title, staff_title = DEPTS[i % len(DEPTS)]
        is_head = i < len(DEPTS)
        given, sn = FIRST[i], LAST[i]
        sam = (given[0] + sn).lower().replace("'", "")
        p = {
            "n": n,
            "dept": dept,
            "sam": sam,
            "givenName": given,
            "sn": sn,
            "displayName": f"{given} {sn}",
            "title": head_title if is_head else staff_title,
            "mail": f"{sam}@corp.example.test",
            "telephoneNumber": FORMATS[i % len(FORMATS)].format(n=n),
            "mobile": f"+1 (555) 987-{n:04d}" if n % 3 else f"555.987.{n:04d}",
            "ipPhone": f"4{n:03d}",
            "otherTelephone": [f"+1 (555) 246-{n:04d}"] + ([f"+44 20 7946 {n:04d}"] if n % 10 == 0 else []),
            "uac": UAC_NORMAL,
            "groups": ["All Staff"],
            "manager_n": None if n == 1 else (1 if is_head else (i % len(DEPTS)) + 1),
        }
        if dept == "IT":
            p["groups"].append("Helpdesk" if not is_head and n % 2 else "IT Staff")
        if is_head:
            p["groups"].append("VIP")
        out.append(p)
    by_n = {p["n"]: p for p in out}
    # Shared reception desk phone: two enabled receptionists, different formatting of the same number.
    by_n[14]["telephoneNumber"] = "+1 (555) 123-0100"
    by_n[21]["telephoneNumber"] = "555.123.0100"
    # Disabled ex-employees (userAccountControl bit 2); #45's old desk number now belongs to #12.
    for n in (17, 33, 45, 50):
        by_n[n]["uac"] = UAC_DISABLED
        by_n[n]["groups"] = []
    by_n[45]["telephoneNumber"] = "+1 (555) 123-0012"
    # Number only in otherTelephone, no telephoneNumber at all.
    del by_n[30]["telephoneNumber"]
    by_n[30]["otherTelephone"] = ["+1 (555) 123-0030"]
    # Extension suffix (breaks naive "ends with digits" matching).
    by_n[36]["telephoneNumber"] = "+1 (555) 123-0036 x210"
    # Person without mobile.
    del by_n[40]["mobile"]
    # Non-Latin names (the directory is the source of the names agents see): Cyrillic and Thai.
    for n, given, sn in ((9, "Иван", "Петров"), (27, "Ольга", "Смирнова"), (44, "สมชาย", "ใจดี")):
        by_n[n].update(givenName=given, sn=sn, displayName=f"{given} {sn}")
    return out


def ou_path(flavor):
    return [
        "OU=Corp",
        "OU=Staff,OU=Corp",
        "OU=Groups,OU=Corp",
        "OU=Service Accounts,OU=Corp",
        "OU=LoadTest,OU=Corp",
    ] + [f"OU={d[0]},OU=Staff,OU=Corp" for d in DEPTS]


def user_dn(p, base):
    cn = p["displayName"].replace(",", "\\,")
    return f"CN={cn},OU={p['dept']},OU=Staff,OU=Corp,{base}"


def group_dn(name, base):
    return f"CN={name},OU=Groups,OU=Corp,{base}"


def user_attrs(p, flavor, with_password=True):
    a = {
        k: p[k]
        for k in (
            "givenName",
            "sn",
            "displayName",
            "title",
            "mail",
            "telephoneNumber",
            "mobile",
            "ipPhone",
            "otherTelephone",
        )
        if k in p
    }
    a["department"] = p["dept"]
    a["sAMAccountName"] = p["sam"]
    a["userPrincipalName"] = f"{p['sam']}@corp.example.test"
    a["description"] = f"seed #{p['n']}"
    a["employeeID"] = f"E{p['n']:05d}"
    if flavor == "samba":
        if with_password:  # AD: password + UAC in the same add (needs LDAPS/StartTLS)
            a["unicodePwd"] = f'"{USER_PASSWORD}"'.encode("utf-16-le")
            a["userAccountControl"] = str(p["uac"])
    else:
        a["cn"] = p["displayName"]
        a["uid"] = p["sam"]
        a["userAccountControl"] = str(p["uac"])
        a["objectCategory"] = "person"
        if with_password:
            a["userPassword"] = USER_PASSWORD
    return a


def user_classes(flavor):
    return (
        ["top", "person", "organizationalPerson", "user"]
        if flavor == "samba"
        else ["top", "person", "organizationalPerson", "inetOrgPerson", "user"]
    )


def connect(args):
    tls = Tls(validate=ssl.CERT_NONE) if args.url.startswith("ldaps") or args.starttls else None
    host, _, port = args.url.split("://", 1)[1].partition(":")
    use_ssl = args.url.startswith("ldaps")
    server = Server(host, port=int(port or (636 if use_ssl else 389)), use_ssl=use_ssl, tls=tls, connect_timeout=5)
    # StartTLS via AUTO_BIND_TLS_BEFORE_BIND: a manual open()+start_tls() with raise_exceptions=True
    # fails on AD (open() reads the schema anonymously -> operationsError 00002020)
    return Connection(
        server,
        args.bind_dn,
        args.password,
        raise_exceptions=True,
        receive_timeout=60,
        auto_bind=AUTO_BIND_TLS_BEFORE_BIND if args.starttls else AUTO_BIND_NO_TLS,
    )


def add(conn, dn, classes, attrs, stats):
    try:
        conn.add(dn, classes, attrs)
        stats["added"] += 1
    except LDAPEntryAlreadyExistsResult:
        stats["existing"] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flavor", choices=["samba", "openldap"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--bind-dn", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--bulk", type=int, default=0, help="extra users under OU=LoadTest (no password)")
    ap.add_argument("--dump-json", help="write the 50 seeded people (expected values) to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    conn = connect(args)
    stats = {"added": 0, "existing": 0}
    base = args.base
    if args.flavor == "openldap":  # slapd needs the suffix entry itself; AD has it already
        add(
            conn,
            base,
            ["top", "dcObject", "organization"],
            {"o": "Corp Example", "dc": base.split(",")[0].split("=")[1]},
            stats,
        )
    for ou in ou_path(args.flavor):
        add(
            conn,
            f"{ou},{base}",
            ["top", "organizationalUnit"],
            {"ou": ou.split(",")[0][3:]} if args.flavor == "openldap" else {},
            stats,
        )

    # service account the backend binds with
    svc_dn = f"CN={SVC_USER},OU=Service Accounts,OU=Corp,{base}"
    svc = {
        "sAMAccountName": SVC_USER,
        "userPrincipalName": f"{SVC_USER}@corp.example.test",
        "description": "Telephony ticketing backend (read-only bind)",
    }
    if args.flavor == "samba":
        svc.update(
            {"unicodePwd": f'"{SVC_PASSWORD}"'.encode("utf-16-le"), "userAccountControl": str(UAC_NORMAL_NOEXPIRE)}
        )
    else:
        svc.update(
            {
                "cn": SVC_USER,
                "sn": SVC_USER,
                "userPassword": SVC_PASSWORD,
                "uid": SVC_USER,
                "userAccountControl": str(UAC_NORMAL_NOEXPIRE),
                "objectCategory": "person",
            }
        )
    add(conn, svc_dn, user_classes(args.flavor), svc, stats)

    ppl = people()
    by_n = {p["n"]: p for p in ppl}
    for p in ppl:
        add(conn, user_dn(p, base), user_classes(args.flavor), user_attrs(p, args.flavor), stats)
    # managers + group membership (memberOf is computed by the server: AD backlink / slapd memberof overlay)
    for p in ppl:
        if p["manager_n"]:
            conn.modify(user_dn(p, base), {"manager": [(MODIFY_REPLACE, [user_dn(by_n[p["manager_n"]], base)])]})
    # groups after users, created with their members (slapd's groupOfNames needs >= 1 member);
    # memberOf is computed by the server (AD backlink / slapd memberof overlay)
    groups = ["Helpdesk", "IT Staff", "VIP", "All Staff"]
    members = {g: [user_dn(p, base) for p in ppl if g in p["groups"]] for g in groups}
    members["IT Staff"].append(group_dn("Helpdesk", base))  # nested group
    for g in groups:
        if args.flavor == "samba":
            classes, attrs = ["top", "group"], {"groupType": str(-2147483646)}  # global security group
        else:
            classes, attrs = ["top", "groupOfNames", "adGroup"], {"cn": g, "groupType": "-2147483646"}
        attrs.update({"sAMAccountName": g, "description": f"{g} (seed)", "member": members[g]})
        before = stats["existing"]
        add(conn, group_dn(g, base), classes, attrs, stats)
        if stats["existing"] == before:
            continue
        for dn in members[g]:  # group already there: top up missing members
            try:
                conn.modify(group_dn(g, base), {"member": [(MODIFY_ADD, [dn])]})
            except LDAPAttributeOrValueExistsResult:
                pass
            except Exception as e:  # AD reports "already a member" as entryAlreadyExists
                if "entryAlreadyExists" not in str(e):
                    raise
    t_seed = time.perf_counter() - t0

    t1 = time.perf_counter()
    bulk_added = 0
    for i in range(args.bulk):
        n = 100000 + i
        dn = f"CN=Load User {n},OU=LoadTest,OU=Corp,{base}"
        a = {
            "sAMAccountName": f"load{n}",
            "givenName": "Load",
            "sn": f"User{n}",
            "displayName": f"Load User {n}",
            "telephoneNumber": f"+1 (555) {n // 10000:03d}-{n % 10000:04d}",
            "ipPhone": f"{n % 100000:05d}",
            "department": "LoadTest",
        }
        if args.flavor == "openldap":
            a.update(
                {"cn": f"Load User {n}", "uid": f"load{n}", "userAccountControl": "512", "objectCategory": "person"}
            )
        before = stats["added"]
        add(conn, dn, user_classes(args.flavor), a, stats)
        bulk_added += stats["added"] - before
    t_bulk = time.perf_counter() - t1
    conn.unbind()
    if args.dump_json:
        with open(args.dump_json, "w") as f:
            json.dump([dict(p, dn=user_dn(p, base)) for p in ppl], f, indent=1)
    print(
        f"seed: added={stats['added']} existing={stats['existing']} seed_s={t_seed:.2f} "
        f"bulk_added={bulk_added} bulk_s={t_bulk:.2f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
