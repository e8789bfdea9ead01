"""The stand-in's pages: its version and (non-secret) ENV, and a health URL
that also proves the database answers."""
import html
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from .models import Pizza

VERSION_FILE = Path(settings.BASE_DIR) / "VERSION"


def version():
    return VERSION_FILE.read_text().strip() if VERSION_FILE.exists() else "unknown"


def home(request):
    pizzas = ", ".join(html.escape(p.name) for p in Pizza.objects.order_by("name"))
    body = (
        f"<!doctype html><title>OC Pizza</title><h1>OC Pizza</h1>"
        f"<p>Version <span id='version'>{html.escape(version())}</span></p>"
        f"<p>ENV <span id='env'>{html.escape(settings.ENV)}</span></p>"
        f"<p>Menu: {pizzas}</p>"
    )
    return HttpResponse(body)


def health(request):
    return JsonResponse({"status": "ok", "version": version(), "pizzas": Pizza.objects.count()})
