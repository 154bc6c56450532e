"""engine/experiment"""
