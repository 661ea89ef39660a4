"""The chat assistant: conversations with a GPT model, and answers fit for Telegram.

``format`` turns the model's Markdown into Telegram's HTML subset and cuts long answers
into pieces a message can hold.
"""
