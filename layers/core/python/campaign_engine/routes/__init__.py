"""The HTTP surface: one Router per resource, included by the functions that serve it.

Routers live in the layer (not in functions/) so that the OpenAPI document can be generated
from all of them by the one function that serves it."""
