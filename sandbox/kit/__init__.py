"""The emulator kit: what every vendor emulator in sandbox/ shares, so each vendor's package holds only its API's
shape and rules. See README.md beside this file for what each module gives and how a new emulator uses it.

store.py (records with sorted indexes, change events, tombstones), cursors.py (server-side paging cursors),
clock.py (the movable clock), faults.py (scheduled faults and actions), limits.py (rolling credit and rate
windows, concurrency), seeding.py (repeatable people, phones, emails, times), settings.py (run-time knobs),
world.py (the state the control API resets), control.py (/_sandbox/ control API), app.py (the WSGI router with
vendors), delivery.py (calls to the product, and the outbox), http.py (JSON in and out).
"""
