"""The claim page's HTML: pure functions of what the service decided, every value escaped.

No inline script or style (the Content-Security-Policy allows only the page's own files), no
participant's name but the claimer's own first name, never anyone else's anything.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from keyprov.handouts.quickstarts import budget_left_lines, quickstart_blocks
from keyprov.handouts.wording import (
    BASE_URL,
    DEFAULT_MODEL,
    budget_in_words,
    last_day_in_words,
    models_in_words,
)
from keyprov.lifecycle.claiming import ClaimCounts, ClaimOutcome, Refusal, ShownKey
from keyprov.render.text import plural
from keyprov.workshop.claimcodes import CODE_LENGTH, display_code


def _page(title: str, workshop: str, body: str, *, refresh: int | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"{meta}<title>{escape(title)}</title>"
        '<link rel="stylesheet" href="/static/claim.css">'
        '<script src="/static/claim.js" defer></script></head>\n'
        f'<body><main><p class="workshop">{escape(workshop)}</p>\n{body}\n</main></body></html>\n'
    )


def _time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone()
    return f"{local:%H:%M} on {local.day} {local:%B}"


def form_page(workshop: str, token: str, code: str = "", notice: str = "") -> str:
    """The form: a code (from the link, when it had one) to send. Showing it changes nothing."""
    shown_code = display_code(code) if code else ""
    extra = f'<p class="notice problem" role="alert">{escape(notice)}</p>' if notice else ""
    length = CODE_LENGTH + CODE_LENGTH // 4
    body = (
        "<h1>Get your API key</h1>\n"
        f"{extra}"
        "<p>Type the claim code from your slip or message, then press the button. Your key "
        "is shown once, on this device.</p>\n"
        '<form method="post" action="/claim" autocomplete="off">\n'
        f'<input type="hidden" name="token" value="{escape(token)}">\n'
        '<label for="code">Claim code</label>\n'
        f'<input type="text" id="code" name="code" value="{escape(shown_code)}" '
        f'maxlength="{length + 6}" placeholder="XXXX-XXXX-XXXX" autocapitalize="characters" '
        'spellcheck="false" required>\n'
        '<button type="submit">Show my key</button>\n'
        "</form>\n"
        '<p class="small">Opening this page does not use the code; pressing the button does. '
        "Keep the key to yourself.</p>"
    )
    return _page("Get your API key", workshop, body)


def key_page(workshop: str, shown: ShownKey, *, base_url: str = BASE_URL) -> str:
    """The key, once, with what it allows, a quickstart and a copy button."""
    greeting = f"{escape(shown.first_name)}, here" if shown.first_name else "Here"
    again = (
        '<p class="notice">You claimed this key before, on this device: here it is again.</p>'
        if shown.again
        else ""
    )
    model = shown.models[0] if shown.models else DEFAULT_MODEL
    quickstarts = "\n".join(
        f"<p>{escape(block.title)}</p>\n<pre>{escape(chr(10).join(block.lines))}</pre>"
        for block in quickstart_blocks(model, base_url, shown.quickstarts)
    )
    budget_left = "\n".join(budget_left_lines(base_url, shown.quickstarts))
    body = (
        f"<h1>{greeting} is your API key</h1>\n{again}"
        '<label for="key">Your OpenRouter API key</label>\n'
        f'<textarea class="key" id="key" rows="3" readonly spellcheck="false">'
        f"{escape(shown.secret)}</textarea>\n"
        '<button type="button" data-copy="key" data-status="copy-status" hidden>'
        "Copy key</button>\n"
        '<p class="status" id="copy-status" role="status" aria-live="polite"></p>\n'
        "<p>Save it now (in a password manager, or the environment variable below). This "
        "page will not show it to any other device.</p>\n"
        "<dl>"
        f"<dt>Budget</dt><dd>{escape(budget_in_words(shown.limit, shown.limit_reset))}</dd>"
        f"<dt>Valid</dt><dd>{escape(last_day_in_words(shown.expires_at))}</dd>"
        f"<dt>Models</dt><dd>{escape(models_in_words(shown.models))}</dd>"
        f"<dt>Base URL</dt><dd>{escape(base_url)}</dd>"
        "</dl>\n"
        f"<h2>Your first call</h2>\n{quickstarts}\n"
        f'<pre class="small">{escape(budget_left)}</pre>'
    )
    return _page("Your API key", workshop, body)


def refusal_text(outcome: ClaimOutcome) -> tuple[str, str]:
    """(title, what to do) for a claim that showed no key."""
    refusal = outcome.refusal
    if refusal is Refusal.WRONG_CODE:
        return "That code is not right", (
            "Check it against your slip or message and type it again (the dashes do not "
            "matter). If it still fails, ask the organiser."
        )
    if refusal is Refusal.ALREADY_CLAIMED:
        return "Already claimed", (
            "This code's key was claimed on another device. If that was not you, tell the "
            "organiser now: they can replace the key."
        )
    if refusal is Refusal.NOT_YET:
        return "Not open yet", f"Claims open at {_time(outcome.when)}. Come back then."
    if refusal is Refusal.OVER:
        return "Claims are closed", (
            "Claims closed at " + _time(outcome.when) + ". Ask the organiser for your key."
        )
    if refusal is Refusal.THROTTLED:
        minutes = max(1, round(outcome.retry_after / 60))
        who = "this room" if outcome.room_throttled else "this device"
        return "Too many wrong codes", (
            f"Too many wrong codes came from {who}. Try again in {plural(minutes, 'minute')}, "
            "or ask the organiser."
        )
    if refusal is Refusal.NO_KEY:
        return "No key for this code yet", "Ask the organiser: your key is not ready."
    return "Not ready yet", (
        "Your key is reserved for this device but could not be switched on just now. Try "
        "again in a minute (same device, same code)."
    )


def refusal_page(workshop: str, outcome: ClaimOutcome, token: str) -> str:
    title, text = refusal_text(outcome)
    if outcome.refusal in (Refusal.NOT_YET, Refusal.OVER):
        body = f'<h1>{escape(title)}</h1>\n<p class="notice problem">{escape(text)}</p>'
        return _page(title, workshop, body)
    return form_page(workshop, token, notice=f"{title}. {text}")


def window_page(workshop: str, state: str, when: datetime | None) -> str:
    """GET while claims are not open: says when, shows no form."""
    outcome = ClaimOutcome(refusal=Refusal.NOT_YET if state == "before" else Refusal.OVER)
    title, text = refusal_text(ClaimOutcome(refusal=outcome.refusal, when=when))
    body = f'<h1>{escape(title)}</h1>\n<p class="notice problem">{escape(text)}</p>'
    return _page(title, workshop, body)


def expired_form_page(workshop: str, token: str) -> str:
    return form_page(
        workshop,
        token,
        notice="This page had expired (or your browser refused its cookie). Type the code "
        "again and press the button.",
    )


def message_page(workshop: str, title: str, text: str) -> str:
    body = f'<h1>{escape(title)}</h1>\n<p class="notice problem">{escape(text)}</p>'
    return _page(title, workshop, body)


def organiser_page(workshop: str, counts: ClaimCounts, *, closed: bool, window: str) -> str:
    """Counts only: never a key, a code or a name. Reloads itself every 10 seconds."""
    gate = "closed: a key is enabled when claimed" if closed else "open: every key is enabled"
    waiting = f"<dt>Being enabled</dt><dd>{counts.waiting}</dd>" if counts.waiting else ""
    body = (
        "<h1>Claims</h1>\n<dl>"
        f"<dt>Claimed</dt><dd>{counts.claimed}</dd>"
        f"<dt>Not claimed</dt><dd>{counts.participants - counts.claimed}</dd>"
        f"{waiting}"
        f"<dt>Workshop</dt><dd>{escape(gate)}</dd>"
        f"<dt>Claims</dt><dd>{escape(window)}</dd>"
        "</dl>\n"
        '<p class="small">This page opens on this machine only, and shows counts only.</p>'
    )
    return _page("Claims", workshop, body, refresh=10)
