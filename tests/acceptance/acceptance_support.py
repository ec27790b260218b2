"""Helpers of the acceptance tests: the running server, accounts, the webhook receiver."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from statushooks import config

ADMIN_TOKEN = "test-admin-token-0123456789"


@dataclass
class Account:
    id: str
    api_key: str
    client: httpx.AsyncClient


@dataclass
class Server:
    url: str
    settings: config.Settings
    #: No credentials.
    client: httpx.AsyncClient
    #: With the admin token.
    admin: httpx.AsyncClient
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def account(self, name: str = "acme") -> Account:
        """A new account and a client carrying its API key."""
        response = await self.admin.post("/v1/accounts", json={"name": name})
        assert response.status_code == 201, response.text
        body = response.json()
        client = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {body['api_key']}"},
            timeout=10.0,
        )
        self._clients.append(client)
        return Account(id=body["id"], api_key=body["api_key"], client=client)

    async def aclose(self) -> None:
        for client in (self.client, self.admin, *self._clients):
            await client.aclose()
