"""A refused admin-only request names the action in a person's words, never the RPC method."""
from gflow.daemon import handlers


def test_every_admin_method_has_words_for_its_refusal():
    methods = handlers.load()
    admin = {name for name, m in methods.items() if m.admin}
    assert admin and admin <= set(handlers.ADMIN_ACTIONS)
    for name in admin:
        what = methods[name].what
        assert name not in what and what[0].isupper()
