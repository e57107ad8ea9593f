"""What the tests share: servers, fakes, recordings, waiting. Test modules import from here, never from each other or
from conftest."""
