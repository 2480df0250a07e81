# Copyright 2026 The depthclip_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""How errors become text: one line per error, for logs, diagnostics and commands."""

from typing import Optional

__all__ = ['one_line']

#: Longest error text in a log line or a diagnostics value.
MAX_ERROR_CHARS = 300


def one_line(error: BaseException, limit: Optional[int] = MAX_ERROR_CHARS) -> str:
    """
    Return an exception's message on one line (whitespace collapsed).

    :param error: the exception; its type name when its message is empty
    :param limit: most characters (cut with ``...``), or None for the whole message
    """
    text = ' '.join(str(error).split()) or type(error).__name__
    if limit is not None and len(text) > limit:
        return text[:limit - 3] + '...'
    return text
