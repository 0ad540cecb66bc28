"""Inbound conversation: Telegram flows and the text commands SMS replies share with chat."""
