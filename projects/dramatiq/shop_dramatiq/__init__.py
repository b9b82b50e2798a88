"""The Dramatiq project of the shop (django_dramatiq on a Redis broker)."""
