"""Messages the bot sends unasked: the scheduled notices and the operator's broadcasts.

Each rule is a module: ``offers`` (the discount offer), ``bonus`` (the daily bonus reminder),
``subscriptions`` (the subscription is ending / has ended), ``broadcast`` (the operator's
message to a segment, fanned out through SQS). ``tasks.handle`` routes the ``notify`` Lambda's
events to them. Every notice goes through ``common.deliver`` (the one sending path in
``genbot.telegram.sending``), which skips blocked users, marks the ones who blocked the bot and
adds the line that says how to turn the kind off (``/settings``).
"""
