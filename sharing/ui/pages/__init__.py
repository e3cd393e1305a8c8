"""The app's pages, one module each with a ``render()`` (see the page contract in
:mod:`sharing.ui`)."""
