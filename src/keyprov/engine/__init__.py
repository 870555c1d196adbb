"""A command's run on a workshop: the session (lock, audit framing, the one ordered save), the
snapshot of state and server read together, the pure plan, expiry, the key creator, the
concurrent fan-out of per-key requests, and the outcomes with the commands they suggest.

May import workshop, delivery, api, roster, handouts and the base modules.
"""
