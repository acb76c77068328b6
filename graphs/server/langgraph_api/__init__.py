"""The LangGraph server API that the official ``langgraph-sdk`` client speaks."""
