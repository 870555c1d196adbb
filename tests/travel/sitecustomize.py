"""`make test-ahead`: every Python process of a test run lives DAYS days from now.

On PYTHONPATH, Python imports this at start-up in each process: the pytest workers and every
`keyprov` or sandbox process a test starts. With KEYPROV_TRAVEL_DAYS set, the wall clock
(time.time, datetime.now, date.today) is moved that far and keeps ticking; monotonic clocks
are left alone, so timeouts, pacing and sleeps behave. It shows that no test depends on the
day it runs (see tests/clock.py).
"""

import os
import time

_days = os.environ.get("KEYPROV_TRAVEL_DAYS")
if _days:
    import time_machine

    time_machine.travel(time.time() + int(_days) * 86400, tick=True).start()
