"""One wrapper per trigger kind: correlation, timing, validation, the error envelope and poison handling.

    @bp.route(route="players", methods=["POST"])
    @http_function(Operation.PLAYER_CREATE, body=CREATE_PLAYER)
    def create_player(call: HttpCall) -> Reply: ...
"""

from shared.handlers.http import HttpCall, Reply, http_function
from shared.handlers.queue import QueueCall, queue_function
from shared.handlers.timer import TimerCall, timer_function

__all__ = ["HttpCall", "Reply", "http_function", "QueueCall", "queue_function", "TimerCall", "timer_function"]
