-- bench only: write out the buffers the previous contender dirtied before the next one starts (superuser).
CHECKPOINT;
