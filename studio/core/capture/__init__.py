"""What a Simon-Says capture is: expression sets, burst capture and capture quality."""
