"""The demo shop shared by every backend project: models, task bodies, web pages and the measurement channel."""
