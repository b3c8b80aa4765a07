"""Agents' own systems: a signed webhook per agent (core.http, signed with core.signing) receives every notice the
agent's inbox gets. The body carries the notice's key, so a receiver recognises a repeat; it names the agent and
the case or order, never a customer's full number (notices carry masked numbers only)."""

from __future__ import annotations

import httpx

from core.http import SignedJsonClient
from core.settings import Settings


class AgentWebhookGateway(SignedJsonClient):
    def __init__(self, webhooks: dict[str, str], secret: str, client: httpx.AsyncClient | None = None) -> None:
        super().__init__("", secret, client=client)
        self.webhooks = webhooks

    def recipients(self, agent_id: str) -> dict[str, str]:
        """The agents a notice goes to by webhook: one, or every agent with a webhook (`agent_id` empty: to all)."""
        if not agent_id:
            return dict(self.webhooks)
        return {agent_id: url} if (url := self.webhooks.get(agent_id)) else {}

    async def deliver(self, url: str, body: dict) -> None:
        """PeerUnavailable: try again later (the activity retries); PeerRejected: the agent's system refuses it."""
        await self._call("POST", url, body)


def agent_webhooks_from_settings(s: Settings) -> AgentWebhookGateway:
    return AgentWebhookGateway(s.agent_webhooks, s.agent_webhook_secret)
