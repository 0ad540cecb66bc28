"""The callback encryption of WeCom and DingTalk (Tencent's WXBizMsgCrypt scheme).

Both platforms post their callbacks encrypted with the app's 43-character
EncodingAESKey and signed with its Token:

* the AES key is ``base64(EncodingAESKey + "=")`` (32 bytes), the IV its first 16;
* the plaintext is 16 random bytes, the message's length (4 bytes, network
  order), the message, and the receiver's id (WeCom: the CorpID; DingTalk: the
  app key or corp id), padded PKCS#7-style to a multiple of 32 bytes, then
  AES-256-CBC encrypted and base64-encoded;
* the signature is the SHA-1 of the token, timestamp, nonce and ciphertext,
  sorted and joined: ``sha1("".join(sorted([token, timestamp, nonce, encrypt])))``.

:class:`MessageCrypto` checks and opens what arrives and seals what is answered;
it does I/O of no kind.  AES comes from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: The padding block of the scheme (not AES's 16: Tencent pads to 32 bytes).
BLOCK = 32
_RANDOM_BYTES = 16


class CallbackRefused(Exception):
    """A callback that is not genuine: refuse it without looking further."""


class BadSignature(CallbackRefused):
    """The signature does not match the token, timestamp, nonce and ciphertext."""


class BadCiphertext(CallbackRefused):
    """The ciphertext does not decrypt, or names another receiver than this app."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The scheme's SHA-1 signature (lower-case hex) over the sorted four strings."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # SHA-1: the protocol's


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey.

    Raises:
        ValueError: not an EncodingAESKey.
    """
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("the EncodingAESKey is not base64") from exc
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise ValueError("the EncodingAESKey must be 43 characters (32 bytes)")
    return key


class MessageCrypto:
    """Opens and seals the callbacks of one app.

    Args:
        token: the callback's Token.
        encoding_aes_key: the callback's 43-character EncodingAESKey.
        receive_id: who the messages are for (WeCom: the CorpID).

    Raises:
        ValueError: the EncodingAESKey is not one.
    """

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.receive_id = receive_id
        self._key = aes_key(encoding_aes_key)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The signature of ``encrypt`` at ``timestamp`` with ``nonce``."""
        return signature(self.token, timestamp, nonce, encrypt)

    def verify(self, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Check the signature (in constant time).

        Raises:
            BadSignature: it does not match.
        """
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), msg_signature.strip().lower().encode()):
            raise BadSignature("the signature does not match")

    def decrypt(self, encrypt: str) -> str:
        """The message inside ``encrypt`` (base64 of the AES ciphertext).

        Raises:
            BadCiphertext: not base64, not a whole number of blocks, bad padding or
                length, not UTF-8, or meant for another receiver.
        """
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadCiphertext("the ciphertext is not base64") from exc
        if not data or len(data) % 16:
            raise BadCiphertext("the ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < _RANDOM_BYTES + 4 + pad:
            raise BadCiphertext("bad padding")
        content = plain[_RANDOM_BYTES:-pad]
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise BadCiphertext("bad message length")
        message, receiver = content[4 : 4 + length], content[4 + length :]
        try:
            text, to = message.decode("utf-8"), receiver.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadCiphertext("the message is not UTF-8") from exc
        if not hmac.compare_digest(to.encode(), self.receive_id.encode()):
            raise BadCiphertext("the message is meant for another receiver")
        return text

    def open(self, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Verify, then decrypt: the message of a genuine callback.

        Raises:
            BadSignature: the signature does not match (nothing is decrypted).
            BadCiphertext: it does not decrypt for this app.
        """
        self.verify(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt)
        return self.decrypt(encrypt)

    def encrypt(self, text: str, *, random: bytes | None = None) -> str:
        """``text`` encrypted for this app (base64), with 16 random bytes in front."""
        message = text.encode("utf-8")
        head = random if random is not None else os.urandom(_RANDOM_BYTES)
        plain = head + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def seal(self, text: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """``text`` encrypted and signed: (encrypt, msg_signature)."""
        encrypt = self.encrypt(text)
        return encrypt, self.sign(timestamp, nonce, encrypt)


__all__ = [
    "BadCiphertext",
    "BadSignature",
    "CallbackRefused",
    "MessageCrypto",
    "aes_key",
    "signature",
]
