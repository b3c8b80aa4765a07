"""Outside development no process starts with a key that ships in the repository."""

import pytest

from core.settings import PUSH_SOURCES, Settings, check_secrets


def test_built_in_keys_are_refused_without_demo_users():
    with pytest.raises(RuntimeError, match="push_secrets\\[china_mobile\\]"):
        check_secrets(Settings(demo_users=False), "the API")
    check_secrets(Settings(demo_users=True), "the API")  # `make run` and the tests


def test_own_keys_are_accepted_and_an_old_built_in_key_left_in_a_ring_is_not():
    own = dict(carrier_api_secret="c" * 40, channel_api_secret="p" * 40, merchant_notify_secret="m" * 40,
               sms_api_secret="s" * 40, billing_api_secret="b" * 40, complaint_notice_secret="n" * 40,
               agent_webhook_secret="w" * 40,
               push_secrets={src: f"key-of-{src}-0123456789abcdef" for src in PUSH_SOURCES})
    check_secrets(Settings(demo_users=False, **own), "the worker")
    leftover = {**own, "push_secrets": {**own["push_secrets"], "logistics": "new-key,dev-push-logistics"}}
    with pytest.raises(RuntimeError, match="logistics"):
        check_secrets(Settings(demo_users=False, **leftover), "the worker")
    a_channel_on_the_built_in_key = {**own, "channel_api_secrets": {"unionpay": "own-union-key", "alipay": "dev-channel-secret"}}
    with pytest.raises(RuntimeError, match=r"channel_api_secrets\[alipay\]"):
        check_secrets(Settings(demo_users=False, **a_channel_on_the_built_in_key), "the worker")
    check_secrets(Settings(demo_users=False, **{**own, "channel_api_secrets": {"unionpay": "own-union-key"}}), "the API")
