"""The OpenAI stand-in driven by the official ``openai`` SDK: what the chat assistant will use.

The SDK parsing the stand-in's answers (streams, usage, errors and their headers) is the proof
that the stand-in speaks OpenAI's protocol; each test gets its own stand-in and client.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI
from PIL import Image

from genbot_local.ai_standins import (
    IMAGE_TOKENS,
    ChatSeen,
    OpenAIStandIn,
    count_tokens,
    image_parts,
    prompt_tokens,
    token_pieces,
)

KEY = "sk-test-assistant"
MODEL = "gpt-4.1-mini"
ANSWER = (
    "Mars is cold: about -60 °C on average.\n\n"
    "**Dust storms** can cover the whole planet for weeks, and the thin air (1% of Earth's) "
    "keeps little heat. Привет, марсиане!"
)


@pytest.fixture
def standin() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(keys=[KEY]).start()
    yield server
    server.stop()


@pytest.fixture
def client(standin: OpenAIStandIn) -> Iterator[OpenAI]:
    sdk = OpenAI(api_key=KEY, base_url=standin.base_url, max_retries=0, timeout=10)
    yield sdk
    sdk.close()


def ask(text: str = "What is the weather like on Mars?") -> Any:  # the SDK's TypedDicts, loosely
    return [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}]


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    return buffer.getvalue()


def ogg_opus(size: int = 600) -> bytes:
    """Bytes that start like an OGG/Opus voice message (the stand-in never decodes audio)."""
    head = b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    return head + bytes(max(0, size - len(head)))


def test_the_tokenizer_is_deterministic_and_lossless() -> None:
    text = "Hello, world! Привет, мир: supercalifragilistic 42 🚀\n\n  end "
    assert "".join(token_pieces(text)) == text
    assert count_tokens("Hello") == 2 and count_tokens("a, b") == 3 and count_tokens("   ") == 0
    assert count_tokens(text) == count_tokens(text)
    body = {"model": MODEL, "messages": ask("hi")}
    assert prompt_tokens(body) == 3 + (3 + count_tokens("You are a helpful assistant.")) + (3 + 1)


def test_a_stream_reassembles_to_the_scripted_answer_with_a_usage_chunk(
    standin: OpenAIStandIn, client: OpenAI
) -> None:
    standin.reply_next(ANSWER)
    stream = client.chat.completions.create(
        model=MODEL, messages=ask(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == ANSWER
    assert len(pieces) == -(-len(token_pieces(ANSWER)) // standin.chunk_tokens) > 10
    assert chunks[0].choices[0].delta.role == "assistant"
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    (request,) = standin.chat_requests()
    assert last.usage.prompt_tokens == prompt_tokens(request.json)
    assert last.usage.completion_tokens == count_tokens(ANSWER)
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert request.json["stream"] is True and request.json["stream_options"] == {"include_usage": True}


def test_without_include_usage_there_is_no_usage_chunk_and_the_pace_is_set(
    standin: OpenAIStandIn, client: OpenAI
) -> None:
    standin.reply_next("one two six ten red sun", chunk_tokens=2, delay=0.1)
    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(model=MODEL, messages=ask(), stream=True):
        assert chunk.usage is None and chunk.choices
        if chunk.choices[0].delta.content:
            arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    assert [piece for _, piece in arrivals] == ["one two", " six ten", " red sun"]
    assert arrivals[-1][0] - arrivals[0][0] >= 0.18  # two pauses of 0.1 s: streaming is observable


def test_a_plain_completion_and_the_default_answer(standin: OpenAIStandIn, client: OpenAI) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=ask("Сколько лун у Марса?"))
    assert answer.choices[0].message.content == "Вы спросили: Сколько лун у Марса?"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == count_tokens(
        "Вы спросили: Сколько лун у Марса?"
    )
    standin.replier = lambda seen: f"{seen.model}: {len(seen.messages)} messages, last {seen.question!r}"
    answer = client.chat.completions.create(model=MODEL, messages=ask("hi"))
    assert answer.choices[0].message.content == "gpt-4.1-mini: 2 messages, last 'hi'"


def test_max_tokens_cuts_the_answer_with_finish_reason_length(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.reply_next(ANSWER)
    answer = client.chat.completions.create(model=MODEL, messages=ask(), max_tokens=4)
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == "Mars is cold:"  # "Mars", " is", " cold", ":"
    assert answer.usage is not None and answer.usage.completion_tokens == 4


def test_vision_parts_are_recorded_and_the_answer_can_mention_them(
    standin: OpenAIStandIn, client: OpenAI
) -> None:
    photo = jpeg()
    url = f"data:image/jpeg;base64,{base64.b64encode(photo).decode()}"
    standin.reply_next("I see {images} image(s); you asked: {question}")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is on this photo?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        }
    ]
    answer = client.chat.completions.create(model="gpt-4.1", messages=messages)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "I see 1 image(s); you asked: What is on this photo?"
    (request,) = standin.chat_requests()
    (image,) = image_parts(request.json)
    assert (image["mime"], image["data"], image["detail"]) == ("image/jpeg", photo, "low")
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == 3 + 3 + count_tokens("What is on this photo?") + IMAGE_TOKENS

    seen: list[ChatSeen] = []

    def replier(request: ChatSeen) -> str:
        seen.append(request)
        return "ok"

    standin.replier = replier
    broken = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,@@not-base64@@"}}],
        }
    ]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4.1", messages=broken)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_image_format" and not seen


def test_over_the_context_window_is_context_length_exceeded(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.set_context_window("gpt-small", 50)
    long_question = "word " * 60
    with pytest.raises(openai.BadRequestError) as exceeded:
        client.chat.completions.create(model="gpt-small", messages=ask(long_question), stream=True)
    error = exceeded.value
    assert error.status_code == 400 and error.code == "context_length_exceeded"
    assert error.param == "messages" and error.type == "invalid_request_error"
    assert "maximum context length is 50 tokens" in error.message
    # the completion budget counts too; the default window (8192) takes the same question
    with pytest.raises(openai.BadRequestError, match="in the completion"):
        client.chat.completions.create(model="gpt-small", messages=ask("short"), max_tokens=40)
    assert client.chat.completions.create(model=MODEL, messages=ask(long_question)).choices
    assert standin.window(MODEL) == 8192


def test_429_carries_retry_after_and_500_is_a_server_error(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.fail_next("rate_limit", retry_after=2, path="/chat/completions")
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=ask(), stream=True)
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "2"

    standin.fail_next("server_error")
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model=MODEL, messages=ask())
    assert failed.value.status_code == 500
    assert client.chat.completions.create(model=MODEL, messages=ask()).choices  # one failure only


def test_the_sdk_retries_a_429_after_retry_after(standin: OpenAIStandIn) -> None:
    standin.fail_next("rate_limit", retry_after=1)
    with OpenAI(api_key=KEY, base_url=standin.base_url, max_retries=1, timeout=10) as sdk:
        started = time.monotonic()
        answer = sdk.chat.completions.create(model=MODEL, messages=ask("hi"))
    assert answer.choices[0].message.content == "You asked: hi"
    assert time.monotonic() - started >= 0.9 and len(standin.chat_requests()) == 2


def test_a_stall_beyond_the_clients_timeout_is_a_timeout(standin: OpenAIStandIn) -> None:
    standin.stall_next(3.0, path="/chat/completions")
    with OpenAI(api_key=KEY, base_url=standin.base_url, max_retries=0, timeout=0.5) as sdk:
        with pytest.raises(openai.APITimeoutError):
            sdk.chat.completions.create(model=MODEL, messages=ask())
        assert sdk.chat.completions.create(model=MODEL, messages=ask("again")).choices


def test_a_stall_in_the_middle_of_a_stream_hits_the_read_timeout(standin: OpenAIStandIn) -> None:
    standin.reply_next(ANSWER)
    standin.stall_next(3.0, after=2)
    got: list[str] = []
    with OpenAI(api_key=KEY, base_url=standin.base_url, max_retries=0, timeout=0.5) as sdk:
        stream = sdk.chat.completions.create(model=MODEL, messages=ask(), stream=True)
        with pytest.raises(openai.APITimeoutError):
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    got.append(chunk.choices[0].delta.content)
    assert len(got) == 2


def test_a_stream_cut_mid_way_fails_after_the_first_pieces(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.reply_next(ANSWER)
    standin.cut_next(after=3)
    got: list[str] = []
    stream = client.chat.completions.create(
        model=MODEL, messages=ask(), stream=True, stream_options={"include_usage": True}
    )
    with pytest.raises(openai.APIConnectionError):  # the SDK wraps the broken transfer
        for chunk in stream:
            assert chunk.usage is None  # no usage chunk: the stream never finished
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert len(got) == 3 and ANSWER.startswith("".join(got))
    # the next request is served normally
    assert client.chat.completions.create(model=MODEL, messages=ask("ok?")).choices


def test_an_error_event_mid_stream_raises_an_api_error(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.stream_error_next(after=1)
    stream = client.chat.completions.create(model=MODEL, messages=ask(), stream=True)
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)


def test_a_voice_message_is_transcribed(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.transcript_next("Какая погода на Марсе?")
    voice = ogg_opus(4000)
    answer = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("voice.oga", voice, "audio/ogg")
    )
    assert answer.text == "Какая погода на Марсе?"
    (request,) = standin.requests_to("/audio/transcriptions")
    assert request.form["model"] == "gpt-4o-mini-transcribe"
    assert request.form["file"]["data"] == voice and request.form["file"]["filename"] == "voice.oga"
    assert answer.usage is not None and answer.usage.type == "tokens"

    answer = client.audio.transcriptions.create(model="whisper-1", file=("voice.ogg", voice, "audio/ogg"))
    assert answer.text == standin.default_transcript
    assert answer.usage is not None and answer.usage.type == "duration" and answer.usage.seconds == 2
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("voice.ogg", voice, "audio/ogg"), response_format="text"
    )
    assert text.strip() == standin.default_transcript


@pytest.mark.parametrize(
    ("model", "file", "status", "code"),
    [
        ("whisper-1", ("voice.txt", b"OggS...", "text/plain"), 400, "invalid_value"),  # by extension
        ("whisper-1", ("voice.ogg", b"not an ogg file", "audio/ogg"), 400, "invalid_value"),
        ("gpt-4o-mini-tts", ("voice.ogg", ogg_opus(), "audio/ogg"), 404, "model_not_found"),
    ],
)
def test_transcription_checks_the_file_and_the_model(
    client: OpenAI, model: str, file: tuple[str, bytes, str], status: int, code: str
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        client.audio.transcriptions.create(model=model, file=file)
    assert (refused.value.status_code, refused.value.code) == (status, code)


def test_transcription_without_a_file_or_model_and_its_failures(
    standin: OpenAIStandIn, client: OpenAI
) -> None:
    import urllib.error
    import urllib.request

    boundary = "standin-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--{boundary}--\r\n'
    )
    request = urllib.request.Request(
        f"{standin.base_url}/audio/transcriptions",
        data=body.encode(),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 400 and b"missing_required_parameter" in missing.value.read()

    standin.fail_next("rate_limit", path="/audio/transcriptions", retry_after=3)
    with pytest.raises(openai.RateLimitError) as limited:
        client.audio.transcriptions.create(model="whisper-1", file=("v.ogg", ogg_opus(), "audio/ogg"))
    assert limited.value.response.headers["retry-after"] == "3"
    standin.fail_next("server_error", path="/audio/transcriptions")
    assert client.chat.completions.create(model=MODEL, messages=ask()).choices  # not for chat
    with pytest.raises(openai.InternalServerError):
        client.audio.transcriptions.create(model="whisper-1", file=("v.ogg", ogg_opus(), "audio/ogg"))
    standin.stall_next(3.0, path="/audio/transcriptions")
    with (
        OpenAI(api_key=KEY, base_url=standin.base_url, max_retries=0, timeout=0.5) as sdk,
        pytest.raises(openai.APITimeoutError),
    ):
        sdk.audio.transcriptions.create(model="whisper-1", file=("v.ogg", ogg_opus(), "audio/ogg"))


def test_clear_forgets_the_script(standin: OpenAIStandIn, client: OpenAI) -> None:
    standin.reply_next("scripted")
    standin.set_context_window(MODEL, 10)
    standin.transcript_next("said")
    standin.replier = lambda seen: "replier"
    standin.clear()
    answer = client.chat.completions.create(model=MODEL, messages=ask("hi"))
    assert answer.choices[0].message.content == "You asked: hi"
    assert standin.requests == standin.chat_requests() and len(standin.requests) == 1
