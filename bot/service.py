"""Assembles `smserror run` from settings: the store, the Bolt app, the routes and the server."""

from __future__ import annotations

from bot.routes import health_route, slack_route, teams_route
from bot.server import HttpServer, Route, WsgiApp
from bot.settings import Settings
from bot.slack_app import build_app
from storage.db import LocalDb


def build_wsgi(settings: Settings, store: LocalDb) -> WsgiApp:
    routes: dict[tuple[str, str], Route] = {("GET", "/healthz"): health_route(store)}
    if settings.slack_signing_secret:
        routes[("POST", "/slack/events")] = slack_route(build_app(settings))
    if settings.teams_outgoing_secret:
        routes[("POST", "/teams/messages")] = teams_route(settings.teams_outgoing_secret)
    return WsgiApp(routes)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = LocalDb(settings.db_path)
        self.server = HttpServer(build_wsgi(settings, self.store), settings.host, settings.port)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        pass

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        pass
