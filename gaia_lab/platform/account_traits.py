"""The settings the hub's spawner and the gateway's backend share to find the same system accounts."""

from __future__ import annotations

from traitlets import HasTraits, Unicode

from gaia_lab.platform.accounts import Accounts


class AccountSettings(HasTraits):
    """Where and how hub users' system accounts are made; both processes must be given the same values."""

    account_prefix = Unicode("gaia-", help="Prefix of the accounts' names.", config=True)
    homes_dir = Unicode(help="Directory of the accounts' homes (mode 0711: entered, not listed).", config=True)
    accounts_lock = Unicode(
        "", help="Lock file the hub and the gateway share: either may make an account first.", config=True
    )

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.account_prefix, self.homes_dir, self.accounts_lock or None)
