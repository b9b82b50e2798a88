"""The Huey project of the shop (huey.contrib.djhuey on RedisHuey)."""
