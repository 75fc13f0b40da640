"""What accelerator this process can use (no Django here)."""
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceInfo:
    hostname: str
    torch_version: str
    cuda_available: bool
    device_name: str
    device_memory_bytes: int | None


def device_info() -> DeviceInfo:
    """Describe the device torch would train on in this process."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo(socket.gethostname(), torch.__version__, True, props.name, props.total_memory)
    return DeviceInfo(socket.gethostname(), torch.__version__, False, "cpu", None)
