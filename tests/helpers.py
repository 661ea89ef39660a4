"""Kept only for tests/unit/test_local_apigw.py until it takes the ``load_event`` fixture.

Tests take ``load_event``, ``telegram_update``, ``deliver`` and ``chat_user`` as fixtures
(``tests/conftest.py``); scripts import from ``genbot_local.simulate``. Delete this module
once nothing imports it.
"""

from genbot_local.simulate import load_event

__all__ = ["load_event"]
