"""Claim codes: what a participant types (or scans) on the claim page to fetch their own key.

A code is 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B,
U/V), shown in groups of four: about 53 bits, so guessing one among a room's codes is hopeless
within the claim page's failure budgets. It is derived from a random per-workshop secret kept
in the state (beside the keys themselves) and the participant's identity, so the slip, the
mail-merge row and the message all carry the same code, a reprint does not void an earlier
one, and a rotated key keeps its participant's code.

The codes themselves are written nowhere in the workshop folder: the claim page knows them
only by a salted hash (`claims.jsonl`, owner-only), and the audit log names a claim by a
pseudonym of the participant, never by the code.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import quote, urlsplit, urlunsplit

from keyprov.errors import OptionError

ALPHABET = "ACDEFHJKMNPRTWXY34679"
"""21 symbols that neither a printed slip nor a hasty hand confuses with another."""
CODE_LENGTH = 12
GROUP = 4
CLAIM_PATH = "/claim"
_CODE_CONTEXT = b"keyprov claim code v1\x00"
_PSEUDONYM_CONTEXT = b"keyprov claim pseudonym v1\x00"
_CSRF_CONTEXT = b"keyprov claim form v1"


def new_claim_secret() -> str:
    """256 random bits, as hex: made once per workshop, the first time codes are needed."""
    return secrets.token_hex(32)


def claim_code(secret: str, identity: str) -> str:
    """The participant's code under the workshop's claim secret, in its plain form (no dashes)."""
    digest = hmac.new(bytes.fromhex(secret), _CODE_CONTEXT + identity.encode(), hashlib.sha256)
    number = int.from_bytes(digest.digest(), "big")
    symbols = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        symbols.append(ALPHABET[index])
    return "".join(symbols)


def claim_pseudonym(secret: str, identity: str) -> str:
    """16 hex characters standing for the participant in claims.jsonl and the audit log."""
    digest = hmac.new(bytes.fromhex(secret), _PSEUDONYM_CONTEXT + identity.encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def form_key(secret: str) -> bytes:
    """The key the claim page signs its form tokens with (CSRF), stable across restarts."""
    return hmac.new(bytes.fromhex(secret), _CSRF_CONTEXT, hashlib.sha256).digest()


def display_code(code: str) -> str:
    """`ACDE-FHJK-MNPR`: groups of four, easier to read out and type."""
    plain = normalise_code(code)
    return "-".join(plain[i : i + GROUP] for i in range(0, len(plain), GROUP))


def normalise_code(text: str) -> str:
    """What was typed, as a code: case, spaces and dashes forgiven. Not checked here."""
    return "".join(char for char in text.upper() if char.isalnum())[: CODE_LENGTH * 2]


def code_hash(salt: str, code: str) -> str:
    """The salted hash the claim page looks a code up by."""
    return hashlib.sha256(f"{salt}:{normalise_code(code)}".encode()).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def claim_link(claim_url: str, code: str) -> str:
    """The claim URL with the code in it: opening it only fills in the form."""
    parts = urlsplit(claim_url)
    return urlunsplit(parts._replace(query=f"code={quote(display_code(code))}"))


def parse_claim_url(text: str) -> str:
    """`--claim-url`: where participants will open the claim page, as printed on the slips.

    http or https, a host (a name such as `laptop.local`, or an address), an optional port,
    and the path `/claim` (added when left out). OptionError for anything else.
    """
    value = text.strip()
    problem = "give it as https://HOST[:PORT]/claim, e.g. https://laptop.local:8443/claim"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise OptionError(f"--claim-url {value}", problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"--claim-url {value}", problem)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise OptionError(f"--claim-url {value}", f"no user, query or fragment: {problem}")
    if parts.path.rstrip("/") not in ("", CLAIM_PATH):
        raise OptionError(f"--claim-url {value}", f"the page's path is {CLAIM_PATH}: {problem}")
    netloc = parts.hostname.lower()
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, CLAIM_PATH, "", ""))


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
