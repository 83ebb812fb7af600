"""The conversation as the model sees it, with no Qt: `Conversation`, `Turn`, `Answer` (the state
views show and the history stores), the `Session` controller that changes them, and the runner
interface through which answers are produced (synchronously here, on a thread in the window)."""

from stagelens.engine import PastTurn, UserTurn
from stagelens.session.conversation import Answer, Conversation, ConversationSummary, Turn, title_for
from stagelens.session.engine_input import EngineRequest, request_for
from stagelens.session.events import Event
from stagelens.session.runner import AnswerJob, EngineRunner, LoadedModel, Runner, RunnerSink, failure_message
from stagelens.session.saving import SaveQueue, Write
from stagelens.session.session import RunningAnswer, Session
from stagelens.session.store import (
    ConversationStore,
    OpenImage,
    StoreBusyError,
    StoreNotice,
    StoreResetError,
    StoreUnavailableError,
)

__all__ = [
    "Answer",
    "AnswerJob",
    "Conversation",
    "ConversationStore",
    "ConversationSummary",
    "EngineRequest",
    "EngineRunner",
    "Event",
    "LoadedModel",
    "OpenImage",
    "PastTurn",
    "Runner",
    "RunnerSink",
    "RunningAnswer",
    "SaveQueue",
    "Session",
    "StoreBusyError",
    "StoreNotice",
    "StoreResetError",
    "StoreUnavailableError",
    "Turn",
    "UserTurn",
    "Write",
    "failure_message",
    "request_for",
    "title_for",
]
