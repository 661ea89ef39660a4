"""The cabinet's JSON API (the Telegram Mini App's backend, docs/cabinet-api.md).

A Powertools ``APIGatewayHttpResolver`` (``app.py``) with a Router per area: ``me``,
``ledger``, ``generations``, ``shop`` (packs, buy), ``promo``, ``settings``; admin routes
will be a Router of their own. Auth is the Mini App's ``initData`` (``auth.py``); errors are
``CabinetError`` subclasses (``errors.py``) mapped to JSON in one place; list routes page with
signed cursors (``cursor.py``). A sibling of ``genbot.bot``: both sit on the domain services.
"""
