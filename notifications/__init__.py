"""Outbound: planning prompts, rendering, the outbox dispatcher, channels, the scheduler."""
