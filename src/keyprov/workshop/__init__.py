"""What a workshop's folder holds, and what finds and guards it: the folder and its lock, the
registry of workshops and how one is located, the state journal, the audit log, keys.xlsx,
the recovery of secrets from it, key names and pseudonyms, and the options a workshop
remembers.

May import api, roster, handouts and the base modules.
"""
